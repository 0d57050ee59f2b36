"""The FIS part: experiments from FIS templates, run with real effects through the local endpoint."""
