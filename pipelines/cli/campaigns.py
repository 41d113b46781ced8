"""`smsflow campaigns ...`: see the module owner (issue 9)."""
