"""The local stack: an AWS-compatible endpoint whose API calls have real effects."""
