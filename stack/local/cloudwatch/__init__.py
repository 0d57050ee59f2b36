"""The cloudwatch part: evaluates the stored metric alarms and composite alarms on the scaled period."""
