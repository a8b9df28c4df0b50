"""The service's routes, one `APIRouter` per resource (contract: docs/api.md).

    server.py    GET /health (no token), GET /info
    jobs.py      POST /sessions (starts an inversion job), GET /jobs/{id}, cancel, preview
    sessions.py  GET /sessions, GET/DELETE /sessions/{sid}, POST /samples
    renders.py   GET /sessions/{sid}/render, /canonical (PNG)
    meshes.py    GET /sessions/{sid}/mesh, /export (compact JSON, GLB, OBJ zip, PLY)
    edits.py     POST /sessions/{sid}/edits/{mask,region,texture,undo,redo}

renders and meshes bound their query parameters by the app's `Limits`, which the OpenAPI
schema shows, so they are built per app (`router_for(limits)`); the others are module-level
`router`s. `create_app` includes them in this order (the order of /openapi.json).
"""
