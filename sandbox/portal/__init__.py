"""A Bitrix24 portal you can run on your machine (see sandbox.portal.cli for the command line).

Independent of Keepwarm's own code on purpose: it imports none of Keepwarm's apps and shares no
code with Keepwarm's Bitrix24 client, so a misunderstanding of the protocol cannot hide in code
both sides share. It speaks the REST protocol as the official docs describe it: envelopes and
errors, lists and filters, batch, the request and operating-time limits, OAuth with rotating
refresh tokens, install and events.
"""
