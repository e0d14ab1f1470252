"""The agents' side of the handoff: the HTTP API agents work tickets through, and its
command-line client. Built on the handoff package (tickets, queues); nothing below imports it.
"""
