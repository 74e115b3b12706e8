"""The playground: TensorFlow Playground's experience driven by gradwise itself, in a browser
(``gradwise playground``). A job: it uses training and lab; nothing imports it. The server
needs the ``[playground]`` extra (Starlette, uvicorn, websockets)."""
