"""Local emulators of the Dataverse Web API and Adobe Campaign for tests, demos and mapping trials."""
