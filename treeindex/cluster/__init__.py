"""Beyond one machine: shards of the input ingested on a Dask cluster, each into its own
SQLite file, merged in input order into one index (`client.py`, `shards.py`, `merge.py`);
and `treeindex merge` for indexes built separately. Only `client.py` imports dask."""
