"""Zygotes: one process per part that imports a program once and forks each copy of it (server.py), and
the part's side, which starts it and handles each forked child like a subprocess (client.py)."""
