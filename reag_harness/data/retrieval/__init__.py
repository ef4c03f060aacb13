"""Retrieval building blocks shared by retriever plugins (FAISS indexes of KB pages)."""
