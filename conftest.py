# The root conftest only loads the plugin, so `pytest` anywhere in the tree gets gameday's options and fixtures.
pytest_plugins = ["gameday.plugin", "gameday.evidence_plugin"]
