"""Simulated social and health insurance registry (BHXH / BHYT): an older SOAP 1.1 XML web
service on 127.0.0.1 serving the province's insured members, with fault injection.

Modules: generator (seeded members of the simulated population), store (paging and change
simulation), soap_messages (request parsing, response and fault rendering), faults (the
injected failure queue), service (the ASGI app), __main__ (run it with uvicorn), simulation
(start it for `lgsp run`).
"""
