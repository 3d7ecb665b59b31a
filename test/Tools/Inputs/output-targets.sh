#!/usr/bin/env bash
# Every tool's output option against every kind of target: a character
# device (/dev/null), a FIFO, a symbolic link and "-" (standard output), as
# the calling user or (USER nobody, when called as root) as the unprivileged
# user nobody. Prints one line per case for FileCheck; the reference is the
# same output written to a new regular file.
# usage: output-targets.sh WORK CONFIG caller|nobody
set -uo pipefail
WORK=$1 CONFIG=$2 USER_KIND=$3
rm -rf "$WORK"
mkdir -p "$WORK"
chmod 755 "$WORK"
if [ "$USER_KIND" = nobody ]; then
  # nobody may not reach the build tree (a clone under /root): the tools
  # (linked statically but for Debian's libraries), the config and the work
  # folder go to a folder of /tmp that everyone can read.
  WORK=$(mktemp -d /tmp/ckpt-output-targets.XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
  chmod 755 "$WORK"
  mkdir "$WORK/bin"
  for tool in ckpt-translate ckpt-opt ckpt-compile ckpt-dsa ckpt-run; do
    cp "$(command -v "$tool")" "$WORK/bin/"
  done
  chmod -R a+rX "$WORK/bin"
  PATH="$WORK/bin:$PATH"
  cp "$CONFIG" "$WORK/config.json"
  CONFIG="$WORK/config.json"
  chmod 644 "$CONFIG"
fi

as_user() { # USER COMMAND...: runs COMMAND as nobody, or as it is
  local user=$1
  shift
  if [ "$user" = caller ]; then "$@"; else
    setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
  fi
}

# Inputs every tool reads, written once by the current user.
ckpt-translate --import-config "$CONFIG" -o "$WORK/graph.mlir" || exit 1
ckpt-compile "$CONFIG" -o "$WORK/program.json" --quiet || exit 1
printf 'id,lower,upper,size\na,0,2,64\nb,1,3,32\n' > "$WORK/buffers.csv"
chmod 644 "$WORK"/*

# NAME DETERMINISTIC COMMAND... with @OUT@ where the output path goes.
check() {
  local user=$1 name=$2 deterministic=$3
  shift 3
  local dir="$WORK/$user-$name"
  mkdir -p "$dir" && chmod 777 "$dir"
  run() { # TARGET: the command with @OUT@ replaced
    local args=() a
    for a in "${cmd[@]}"; do args+=("${a//@OUT@/$1}"); done
    (cd "$dir" && as_user "$user" "${args[@]}")
  }
  local cmd=("$@")
  run "$dir/reference" > /dev/null 2>&1 || { echo "$user $name: reference failed"; return; }

  # A character device stays a device.
  run /dev/null > /dev/null 2>&1
  echo "$user $name /dev/null: rc $? $(stat -c %F /dev/null)"

  # A FIFO stays a FIFO and passes the bytes to its reader.
  mkfifo "$dir/fifo" && chmod 666 "$dir/fifo"
  # A tool that never opens the FIFO must not hang the test.
  timeout 60 cat "$dir/fifo" > "$dir/from-fifo" &
  local reader=$!
  run "$dir/fifo" > /dev/null 2>&1
  local rc=$?
  wait "$reader"
  local same=differs
  if [ "$deterministic" = no ] && [ -s "$dir/from-fifo" ]; then same=non-empty
  elif cmp -s "$dir/reference" "$dir/from-fifo"; then same="same as a file"; fi
  echo "$user $name fifo: rc $rc $(stat -c %F "$dir/fifo"), $same"

  # A symbolic link stays a link; the file it names gets the output.
  ln -s linked "$dir/link"
  run "$dir/link" > /dev/null 2>&1
  rc=$?
  same=differs
  if [ "$deterministic" = no ] && [ -s "$dir/linked" ]; then same=non-empty
  elif cmp -s "$dir/reference" "$dir/linked"; then same="same as a file"; fi
  echo "$user $name link: rc $rc $(stat -c %F "$dir/link"), $same"

  # "-" is standard output, never a file named "-".
  run - > "$dir/stdout" 2> /dev/null
  rc=$?
  same=differs
  if [ "$deterministic" = no ] && grep -q '"schema"' "$dir/stdout"; then same=non-empty
  elif cmp -s "$dir/reference" "$dir/stdout"; then same="same as a file"; fi
  local dash="no file named -"
  [ -e "$dir/-" ] && dash="a file named - was written"
  echo "$user $name stdout: rc $rc, $same, $dash"
}

for user in "$USER_KIND"; do
  check "$user" ckpt-translate yes ckpt-translate --import-config "$CONFIG" -o @OUT@
  check "$user" ckpt-opt yes ckpt-opt --xf-training-step "$WORK/graph.mlir" -o @OUT@
  check "$user" ckpt-opt-report yes ckpt-opt --xf-training-step "$WORK/graph.mlir" \
    --ckpt-report=table=false\ json=@OUT@ -o "/dev/null"
  check "$user" ckpt-compile yes ckpt-compile "$CONFIG" -o @OUT@ --quiet
  check "$user" ckpt-compile-svg yes ckpt-compile "$CONFIG" -o /dev/null --svg=@OUT@ --quiet
  check "$user" ckpt-dsa yes ckpt-dsa "$WORK/buffers.csv" -o @OUT@
  check "$user" ckpt-run-profile no ckpt-run "$WORK/program.json" --threads=1 --profile=@OUT@
done
