"""Local emulators of the Dataverse Web API and Adobe Campaign (tests, demos, mapping trials)."""
