#!/bin/sh
echo "Hello from a cairn-built image! $(cat /app/message.txt)"
