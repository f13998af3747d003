"""Embedding engines: all-MiniLM-L6-v2 on numpy (no torch), and a llama.cpp embedding
instance for chat models."""
