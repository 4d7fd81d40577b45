// An std::ostream that hands each block written to it to a callback, in order (dev.steer4j.model.ArchiveSink).
#pragma once
#include <cstddef>
#include <ostream>
#include <streambuf>

namespace steer4j {

typedef void (*SinkCallback)(const char* data, size_t n);

// Unbuffered (libtorch writes whole headers and records, a few calls per record). It never fails:
// libtorch finishes the archive in a destructor, where an error would std::terminate the process, so the
// callback keeps its own errors and the caller reports them once save() has returned.
class CallbackBuf : public std::streambuf {
public:
    explicit CallbackBuf(SinkCallback cb) : cb_(cb) {}

protected:
    int_type overflow(int_type c) override {
        if (!traits_type::eq_int_type(c, traits_type::eof())) {
            char ch = traits_type::to_char_type(c);
            cb_(&ch, 1);
        }
        return traits_type::not_eof(c);
    }

    std::streamsize xsputn(const char* s, std::streamsize n) override {
        // at most 1 GiB a call, so that Java can wrap each block in one ByteBuffer
        for (std::streamsize done = 0; done < n;) {
            std::streamsize k = n - done < (1 << 30) ? n - done : (1 << 30);
            cb_(s + done, (size_t) k);
            done += k;
        }
        return n;
    }

private:
    SinkCallback cb_;
};

class ArchiveSink {
public:
    explicit ArchiveSink(SinkCallback cb) : buf_(cb), stream_(&buf_) {}
    std::ostream* stream() { return &stream_; }

private:
    CallbackBuf buf_;
    std::ostream stream_;
};

}  // namespace steer4j
