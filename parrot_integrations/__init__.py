"""Parrot's client side: the backend client and the LangChain / LlamaIndex integrations."""
