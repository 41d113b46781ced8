"""`smsflow lists ...`: see the module owner (issue 9)."""
