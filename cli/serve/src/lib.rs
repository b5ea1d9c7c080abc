//! Pyra as an MCP server: the skills a user exposes become tools other agents call.
