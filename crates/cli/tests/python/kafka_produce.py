"""Produces a diagnostic export tree to a Kafka topic as Event Hubs carries it: messages of
{"records": [...]} with up to PER records each, with the kafka-python client. Creates the topic
with PARTITIONS partitions first when it does not exist.

usage: kafka_produce.py BOOTSTRAP TOPIC PARTITIONS TREE PER

Prints {"messages": n, "records": n}.
"""
import json
import os
import sys
import time

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

bootstrap, topic, partitions, tree, per = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)
try:
    admin.create_topics([NewTopic(name=topic, num_partitions=partitions, replication_factor=1)])
except TopicAlreadyExistsError:
    pass
admin.close()
records = []
for folder, _, files in sorted(os.walk(tree)):
    for name in sorted(files):
        if name.endswith(".json") and "insights-logs-" in folder:
            with open(os.path.join(folder, name)) as f:
                records.extend(line for line in f.read().splitlines() if line.strip())
producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
messages = 0
futures = []
for i in range(0, len(records), per):
    body = '{"records":[' + ",".join(records[i:i + per]) + "]}"
    futures.append(producer.send(topic, value=body.encode(), partition=messages % partitions))
    messages += 1
producer.flush(timeout=60)
for f in futures:
    f.get(timeout=60)  # raises unless the broker took the message
producer.close()
print(json.dumps({"messages": messages, "records": len(records)}))
