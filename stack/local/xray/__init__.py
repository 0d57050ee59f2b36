"""The xray part: OTLP/HTTP and PutTraceSegments in, X-Ray's trace queries and service graph out."""
