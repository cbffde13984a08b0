"""HTTP plumbing shared by the OpenAI-compatible adapters (chat, embeddings, costs): one
retry/backoff transport and the client factory. Not a port family of its own."""
