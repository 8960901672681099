"""Uploads a diagnostic export tree (folders named like the containers Entra's diagnostic
settings write) into a storage account as append blobs, with the Azure Storage SDK for Python.

usage: blob_upload.py CONNECTION_STRING TREE FROM TO

Each file's lines [FROM%, TO%) of its line count are appended to its blob (created when missing),
so that a test can grow blobs in steps as Azure Monitor does. Prints {"blobs": n, "lines": n}.
"""
import json
import os
import sys

from azure.storage.blob import BlobServiceClient
from azure.core.exceptions import ResourceExistsError

conn, tree, start, stop = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
service = BlobServiceClient.from_connection_string(conn)
blobs = lines_sent = 0
for container in sorted(os.listdir(tree)):
    if not os.path.isdir(os.path.join(tree, container)):
        continue
    client = service.get_container_client(container)
    try:
        client.create_container()
    except ResourceExistsError:
        pass
    root = os.path.join(tree, container)
    for folder, _, files in os.walk(root):
        for name in sorted(files):
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                lines = f.read().splitlines(keepends=True)
            a, b = int(len(lines) * start / 100), int(len(lines) * stop / 100)
            part = b"".join(lines[a:b])
            blob = client.get_blob_client(os.path.relpath(path, root))
            if not blob.exists():
                blob.create_append_blob()
            for i in range(0, len(part), 4 << 20):
                blob.append_block(part[i:i + (4 << 20)])
            blobs += 1
            lines_sent += b - a
print(json.dumps({"blobs": blobs, "lines": lines_sent}))
