# The service of the agent's tests: it records its start in the named volume and can take the
# update lock or hand over, as the test sets it up with `fleetgate env set`.
trap 'exit 0' TERM
echo "$(cat /VERSION) $BALENA_DEVICE_UUID" >> /data/starts
if [ -n "$LOCK_ON_START" ]; then touch /tmp/balena/updates.lock; fi
if [ -n "$KILL_ME_AFTER" ]; then (sleep "$KILL_ME_AFTER"; touch /tmp/resin/resin-kill-me) & fi
while :; do sleep 1 & wait $!; done
