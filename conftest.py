# A checkout that is not installed has no pytest11 entry point: the root conftest loads the plugin (which
# brings the evidence plugin and the experiment harness). Installed, the entry point has loaded it under
# the same name, and this line does nothing.
pytest_plugins = ["gameday.plugin"]
