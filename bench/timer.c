/* Runs a command and prints "<wall s> <cpu s> <peak RSS KiB>" on stderr's last line, like
 * /usr/bin/time -f "%e %U+%S %M" but with the wall time to the microsecond (%e counts
 * hundredths). A small process of its own does the fork: a child forked from the Python
 * script would report the script's resident size as its peak. Built by bench/run.py. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double seconds(struct timespec t) { return t.tv_sec + t.tv_nsec / 1e9; }

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: timer OUTPUT-FILE COMMAND [ARG...]\n");
    return 2;
  }
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  pid_t child = fork();
  if (child < 0) { perror("fork"); return 2; }
  if (child == 0) {
    execvp(argv[2], argv + 2);
    perror("execvp");
    _exit(127);
  }
  int status;
  struct rusage usage;
  if (wait4(child, &status, 0, &usage) < 0) { perror("wait4"); return 2; }
  clock_gettime(CLOCK_MONOTONIC, &end);
  FILE *out = fopen(argv[1], "w");
  if (!out) { perror("fopen"); return 2; }
  double cpu = seconds((struct timespec){usage.ru_utime.tv_sec, usage.ru_utime.tv_usec * 1000})
             + seconds((struct timespec){usage.ru_stime.tv_sec, usage.ru_stime.tv_usec * 1000});
  fprintf(out, "%.6f %.6f %ld\n", seconds(end) - seconds(start), cpu, usage.ru_maxrss);
  fclose(out);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
