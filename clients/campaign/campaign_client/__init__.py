"""The Adobe Campaign client shared by tap-adobe-campaign and target-adobe-campaign.

IMS auth (OAuth Server-to-Server), the REST client (paging, errors, retries), Campaign
Classic SOAP, dates, opt-out flags, the connection settings and the connection check steps.
"""

__version__ = "0.1.0"
