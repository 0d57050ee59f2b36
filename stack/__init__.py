"""The reference stack (SecureCart): its spec and boto3 builder, and the local stack that emulates AWS."""
