"""RDS on real PostgreSQL: nodes (postgres.py), backups (archive.py) and the part (part.py)."""
