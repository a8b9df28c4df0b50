"""Training loops and losses for the generator, encoders, canonical editor and face parser.
The networks themselves live in ide3d_backend/model."""
