"""SecureCart's checkout service: one process per EC2 instance, served by uvicorn (httptools, uvloop).

Run as ``python -m stack.local.ec2.checkout --uds <path> --instance-id i-... --region ... --az ...
--db-endpoint <name> --db-port 5432 --db-user ... --db-password-file <file> --dns <host:port>
[--source-address 127.x.y.z]``; see config.parser() for every option.
"""
