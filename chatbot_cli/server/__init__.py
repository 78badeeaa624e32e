"""The FastAPI server: app factory, routers, middleware. Imported only by `chatbot serve`."""
