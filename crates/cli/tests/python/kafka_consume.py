"""Creates a Kafka topic, or reads one from the start with the kafka-python client.

usage: kafka_consume.py BOOTSTRAP TOPIC create PARTITIONS [AUTH]
       kafka_consume.py BOOTSTRAP TOPIC read EXPECTED TIMEOUT_SECONDS [AUTH]

AUTH: a JSON object of kafka-python client settings (security_protocol, sasl_mechanism,
sasl_plain_username, sasl_plain_password, ssl_cafile) for a broker that requires them.

`create` prints {"created": true|false}. `read` reads every partition from its first offset
(no consumer group) until it has seen EXPECTED distinct record ids and reached the end of every
partition, or TIMEOUT_SECONDS, and prints {"messages": [{"partition", "key", "id", "errorCode",
"headers"}]}, one per message read: a record delivered twice (at least once, after a crash) is
listed twice and does not count twice towards EXPECTED.
"""
import json
import sys
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

bootstrap, topic, mode = sys.argv[1], sys.argv[2], sys.argv[3]
auth = json.loads(sys.argv[-1]) if sys.argv[-1].startswith("{") else {}
if auth:
    # Tansu answers the version probe badly over SASL: name a version.
    auth["api_version"] = (2, 5, 0)
if mode == "create":
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000, **auth)
    try:
        admin.create_topics([NewTopic(name=topic, num_partitions=int(sys.argv[4]), replication_factor=1)])
        created = True
    except TopicAlreadyExistsError:
        created = False
    admin.close()
    print(json.dumps({"created": created}))
    sys.exit(0)

expected, timeout = int(sys.argv[4]), float(sys.argv[5])
consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, **auth)
deadline = time.time() + timeout
partitions = None
while partitions is None and time.time() < deadline:
    partitions = consumer.partitions_for_topic(topic)
    if partitions is None:
        time.sleep(0.2)
tps = [TopicPartition(topic, p) for p in sorted(partitions or [])]
consumer.assign(tps)
consumer.seek_to_beginning(*tps)
out = []
ids = set()


def drained():
    """Whether every partition has been read up to its current end."""
    ends = consumer.end_offsets(tps)
    return all(consumer.position(tp) >= ends[tp] for tp in tps)


while time.time() < deadline and (len(ids) < expected or not drained()):
    for tp, batch in consumer.poll(timeout_ms=500).items():
        for m in batch:
            value = json.loads(m.value)
            out.append({
                "partition": tp.partition,
                "key": m.key.decode() if m.key is not None else None,
                "id": value.get("id"),
                "errorCode": (value.get("status") or {}).get("errorCode"),
                "headers": {k: v.decode() for k, v in (m.headers or [])},
            })
            ids.add(value.get("id"))
consumer.close()
print(json.dumps({"messages": out}))
