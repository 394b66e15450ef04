#!/bin/sh
echo "$GREETING from a cairn-built image! $(cat /app/message.txt)"
[ -f /app/built.txt ] && cat /app/built.txt
exit 0
