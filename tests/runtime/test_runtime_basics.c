/*
 * test_runtime_basics.c - status names and exit codes, the thread-local error
 * message, log levels and the log line format, size parsing, mkdir -p.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/runtime.h"

static void test_parse_size(void **state)
{
    (void)state;
    assert_int_equal(tsr_parse_size("2000"), 2000);
    assert_int_equal(tsr_parse_size("100k"), 100 * 1024);
    assert_int_equal(tsr_parse_size("100K"), 100 * 1024);
    assert_int_equal(tsr_parse_size("512M"), 512LL * 1024 * 1024);
    assert_int_equal(tsr_parse_size("4G"), 4LL * 1024 * 1024 * 1024);
    assert_int_equal(tsr_parse_size("4GB"), 4LL * 1024 * 1024 * 1024);
    assert_int_equal(tsr_parse_size("1.5G"), 3LL * 512 * 1024 * 1024);
    assert_int_equal(tsr_parse_size("2T"), 2LL * 1024 * 1024 * 1024 * 1024);
    assert_int_equal(tsr_parse_size("0"), 0);
    assert_int_equal(tsr_parse_size(""), -1);
    assert_int_equal(tsr_parse_size(NULL), -1);
    assert_int_equal(tsr_parse_size("abc"), -1);
    assert_int_equal(tsr_parse_size("-1"), -1);
    assert_int_equal(tsr_parse_size("4X"), -1);
    assert_int_equal(tsr_parse_size("4Gx"), -1);
}

static void test_log_level_parse(void **state)
{
    (void)state;
    assert_int_equal(tsr_log_level_parse("off"), TSR_LOG_OFF);
    assert_int_equal(tsr_log_level_parse("error"), TSR_LOG_ERROR);
    assert_int_equal(tsr_log_level_parse("warn"), TSR_LOG_WARN);
    assert_int_equal(tsr_log_level_parse("info"), TSR_LOG_INFO);
    assert_int_equal(tsr_log_level_parse("debug"), TSR_LOG_DEBUG);
    assert_int_equal(tsr_log_level_parse("trace"), TSR_LOG_TRACE);
    assert_int_equal(tsr_log_level_parse("verbose"), -1);
    assert_int_equal(tsr_log_level_parse(""), -1);
}

/* Capture what the logger writes to stderr while running `emit`. */
static void capture_stderr(void (*emit)(void), char *out, size_t len)
{
    char dir[] = "/tmp/tsr-log-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/stderr", dir);
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    emit();
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    ssize_t n = read(fd, out, len - 1);
    assert_true(n >= 0);
    out[n] = '\0';
    close(fd);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

static void emit_lines(void)
{
    tsr_log_configure(TSR_LOG_INFO, 3);
    tsr_log_warn("disk %d nearly full", 2);
    tsr_log_debug("not shown at info");
    tsr_log_configure(TSR_LOG_ERROR, -1);
    tsr_log_error("no rank here");
    tsr_log_info("not shown at error");
    tsr_log_configure(TSR_LOG_WARN, -1);
}

static void test_log_format(void **state)
{
    (void)state;
    char buf[512];
    capture_stderr(emit_lines, buf, sizeof buf);
    assert_string_equal(buf, "[tessera r3 WARN emit_lines] disk 2 nearly full\n"
                             "[tessera ERROR emit_lines] no rank here\n");
    assert_int_equal(tsr_log_level(), TSR_LOG_WARN);
}

static void test_error_first_message_wins(void **state)
{
    (void)state;
    tsr_error_clear();
    assert_string_equal(tsr_error_msg(), "");
    assert_int_equal(tsr_error_set(TSR_ERR_IO, "cannot open '%s'", "a.bam"), TSR_ERR_IO);
    assert_int_equal(tsr_error_set(TSR_ERR_FORMAT, "outer context"), TSR_ERR_FORMAT);
    assert_string_equal(tsr_error_msg(), "cannot open 'a.bam'");
    tsr_error_clear();
    assert_string_equal(tsr_error_msg(), "");
    assert_int_equal(tsr_error_set(TSR_ERR_STATE, "second"), TSR_ERR_STATE);
    assert_string_equal(tsr_error_msg(), "second");
    tsr_error_clear();
}

static void test_status_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(tsr_status_exit_code(TSR_OK), 0);
    assert_int_equal(tsr_status_exit_code(TSR_ERR_USAGE), 2);
    assert_int_equal(tsr_status_exit_code(TSR_ERR_INTERRUPTED), 75);
    for (int s = TSR_ERR_IO; s <= TSR_ERR_INTERNAL; s++) {
        if (s == TSR_ERR_INTERRUPTED)
            continue;
        assert_int_equal(tsr_status_exit_code((tsr_status_t)s), 1);
    }
    /* every status has its own name */
    for (int a = TSR_OK; a <= TSR_ERR_INTERNAL; a++)
        for (int b = a + 1; b <= TSR_ERR_INTERNAL; b++)
            assert_string_not_equal(tsr_status_str((tsr_status_t)a), tsr_status_str((tsr_status_t)b));
}

static void test_mkdir_p(void **state)
{
    (void)state;
    char dir[] = "/tmp/tsr-mkdir-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char deep[128], file[128];
    snprintf(deep, sizeof deep, "%s/a/b/c", dir);
    assert_int_equal(tsr_mkdir_p(deep), TSR_OK);
    assert_int_equal(tsr_mkdir_p(deep), TSR_OK);
    struct stat st;
    assert_int_equal(stat(deep, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    snprintf(file, sizeof file, "%s/a/f", dir);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    tsr_error_clear();
    assert_int_equal(tsr_mkdir_p(file), TSR_ERR_IO);
    assert_non_null(strstr(tsr_error_msg(), file));
    tsr_error_clear();
    assert_int_equal(unlink(file), 0);
    assert_int_equal(rmdir(deep), 0);
    snprintf(deep, sizeof deep, "%s/a/b", dir);
    assert_int_equal(rmdir(deep), 0);
    snprintf(deep, sizeof deep, "%s/a", dir);
    assert_int_equal(rmdir(deep), 0);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_log_level_parse),
        cmocka_unit_test(test_log_format),
        cmocka_unit_test(test_error_first_message_wins),
        cmocka_unit_test(test_status_exit_codes),
        cmocka_unit_test(test_mkdir_p),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
