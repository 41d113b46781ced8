"""`smsflow erase ...`: see the module owner (issue 9)."""
