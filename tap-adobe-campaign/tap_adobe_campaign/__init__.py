"""Singer tap for Adobe Campaign Standard, and the Campaign REST client the target shares."""
