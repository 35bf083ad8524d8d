"""Campaign v8 / Classic streams: the same streams as on Campaign Standard, read over SOAP.

`backend: v8` swaps the REST streams for these, with the same names and record shapes:
`profiles` / `unlinked_profiles` (`recipient`), `email_events` (`email_events`) and
`opt_outs` (`optouts`), all on `campaign_client.querydef` keyset pages (`base`).
"""
