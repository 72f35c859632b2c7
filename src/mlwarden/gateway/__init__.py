"""The MCP gateway: agents' tool calls checked by CEL policies, masked, held for approval
where a policy says so, logged with audit proofs. See docs/agents.md.

``mlwarden.gateway.proxy`` (the MCP server, which needs the ``agents`` extra) is not imported
here: the facade imports this package's service.
"""
