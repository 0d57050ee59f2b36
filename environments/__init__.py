"""Environment files (local.yaml is the default) and the validated model they load into."""
