"""CloudFront's data plane: edge locations, and the WAF evaluated at them (waf*.py)."""
