"""The web view: a datasette plugin (plugin.py), started by `treeindex serve`."""
