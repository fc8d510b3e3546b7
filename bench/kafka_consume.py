#!/usr/bin/env python3
"""The baseline of `kubetrail-bench kafka`: a plain librdkafka consumer (confluent-kafka from
PyPI) reading a whole topic from the beginning, doing nothing with the messages. Prints one
JSON line: messages, payload bytes, and the seconds and CPU seconds (of the whole process,
librdkafka's threads too) from the first message to the last.

    python3 -m venv /tmp/kafka-bench && /tmp/kafka-bench/bin/pip install confluent-kafka
    /tmp/kafka-bench/bin/python bench/kafka_consume.py --brokers 127.0.0.1:9092 --topic t --messages 1000
"""

import argparse
import json
import time

from confluent_kafka import Consumer


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", default="bench-confluent-kafka")
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    consumer = Consumer(
        {
            "bootstrap.servers": args.brokers,
            "group.id": args.group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([args.topic])
    messages = 0
    payload_bytes = 0
    first = last = None
    cpu_first = cpu_last = 0.0
    deadline = time.monotonic() + args.timeout
    while messages < args.messages and time.monotonic() < deadline:
        for message in consumer.consume(num_messages=10000, timeout=1.0):
            if message.error():
                continue
            if first is None:
                first = time.monotonic()
                cpu_first = time.process_time()
            messages += 1
            payload_bytes += len(message.value() or b"")
        last = time.monotonic()
        cpu_last = time.process_time()
    consumer.close()
    print(
        json.dumps(
            {
                "messages": messages,
                "bytes": payload_bytes,
                "seconds": (last - first) if first is not None else 0.0,
                "cpu_seconds": cpu_last - cpu_first,
            }
        )
    )


if __name__ == "__main__":
    main()
