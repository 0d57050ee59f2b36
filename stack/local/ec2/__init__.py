"""EC2 on the local stack: checkout instances that are real processes (see part.Ec2Part)."""
