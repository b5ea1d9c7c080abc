//! Import of the MCP server configurations other clients keep.
