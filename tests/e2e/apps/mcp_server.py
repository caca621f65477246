"""A FastMCP server with one paid tool (get_weather, PRICE, default $0.01) and one free one, priced by
paywire.mcp and settled by the facilitator at FACILITATOR_URL; served over stdio (the default) or, with
TRANSPORT=streamable-http, on PORT.

    PAY_TO=0x... FACILITATOR_URL=http://... python mcp_server.py
"""

import os

from mcp.server.fastmcp import FastMCP

from paywire import PriceTag
from paywire.facilitator import AsyncFacilitatorClient
from paywire.mcp import PaidTools, paid

server = FastMCP("weather", port=int(os.environ.get("PORT", "8000")))
tools = PaidTools(facilitator=AsyncFacilitatorClient(os.environ["FACILITATOR_URL"]))
tag = PriceTag(os.environ.get("NETWORK", "eip155:84532"), os.environ["PAY_TO"], os.environ.get("PRICE", "$0.01"))


@server.tool()
@tools(tag)
async def get_weather(city: str) -> str:
    """Today's weather in a city, for PRICE."""
    who = paid()
    return f"sunny in {city}, paid by {who.payer if who else 'nobody'}"


@server.tool()
async def free(city: str) -> str:
    """A free tool beside the paid one."""
    return f"free weather for {city}"


if __name__ == "__main__":
    server.run(os.environ.get("TRANSPORT", "stdio"))  # type: ignore[arg-type]
