//! Scenarios: small socket programs written as the classic texts write them.
