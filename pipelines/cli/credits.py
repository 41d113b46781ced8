"""`smsflow credits ...`: see the module owner (issue 9)."""
