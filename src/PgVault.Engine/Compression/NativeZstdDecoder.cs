using System.Runtime.InteropServices;
using PgVault.Storage;

namespace PgVault.Engine.Compression;

/// <summary>
/// A zstd decompression stream over the native libzstd's streaming API (<c>ZSTD_decompressStream</c>). The library is
/// the one the ZstdNet package ships for linux/osx/win on x64 and arm64 (resolved as <c>libzstd</c> from the app's
/// native assets). Unlike ZstdNet's own stream it reports input that ends inside a frame (a truncated object) instead
/// of returning what it decoded as if that were all. Reads its source in 128 KiB pieces into a pinned buffer and
/// decodes into a pinned 128 KiB window, so memory per stream is small and fixed (plus libzstd's window).
/// </summary>
internal sealed class NativeZstdDecoder : ReadOnlyStream
{
    private const int InputBytes = 1 << 17;
    private const int OutputBytes = 1 << 17;
    private const int DirectBytes = 1 << 16;
    private static readonly Lazy<bool> Available = new(Probe);

    private readonly Stream _source;
    private readonly bool _leaveOpen;
    private readonly byte[] _input = GC.AllocateUninitializedArray<byte>(InputBytes, pinned: true);
    private readonly byte[] _output = GC.AllocateUninitializedArray<byte>(OutputBytes, pinned: true);
    private readonly DStream _stream;
    private int _inLength;
    private int _inPosition;
    private int _outLength;
    private int _outPosition;
    private bool _sourceEnded;
    private bool _inFrame;

    public NativeZstdDecoder(Stream source, bool leaveOpen)
    {
        _source = source;
        _leaveOpen = leaveOpen;
        _stream = NativeMethods.ZSTD_createDStream();
        if (_stream.IsInvalid)
            throw new InvalidOperationException("libzstd could not create a decompression stream (out of memory?)");
    }

    /// <summary>Whether libzstd loads here (probed once).</summary>
    public static bool IsAvailable => Available.Value;

    private static bool Probe()
    {
        try
        {
            return NativeMethods.ZSTD_versionNumber() >= 10400;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return false;
        }
    }

    public override bool CanRead => !_stream.IsClosed;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        while (true)
        {
            if (buffer.IsEmpty)
                return 0;
            if (TryCopy(buffer, out var copied))
                return copied;
            if (_inPosition == _inLength && !_sourceEnded)
                Filled(_source.Read(_input, 0, InputBytes));
            if (!Decode())
                return 0;
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (buffer.IsEmpty)
                return 0;
            if (TryCopy(buffer.Span, out var copied))
                return copied;
            if (_inPosition == _inLength && !_sourceEnded)
                Filled(await _source.ReadAsync(_input.AsMemory(0, InputBytes), cancellationToken).ConfigureAwait(false));
            if (buffer.Length >= DirectBytes && MemoryMarshal.TryGetArray<byte>(buffer, out var array))
            {
                // A large array-backed read (the restore's 1 MiB chunks): decode straight into it, no copy.
                var handle = GCHandle.Alloc(array.Array, GCHandleType.Pinned);
                try
                {
                    var decoded = Decode(Marshal.UnsafeAddrOfPinnedArrayElement(array.Array!, array.Offset), array.Count);
                    if (decoded < 0)
                        return 0;
                    if (decoded > 0)
                        return decoded;
                }
                finally
                {
                    handle.Free();
                }

                continue;
            }

            if (!Decode())
                return 0;
        }
    }

    /// <summary>Copies decoded bytes that are waiting; false when none are.</summary>
    private bool TryCopy(Span<byte> buffer, out int copied)
    {
        copied = Math.Min(buffer.Length, _outLength - _outPosition);
        if (copied == 0)
            return false;
        _output.AsSpan(_outPosition, copied).CopyTo(buffer);
        _outPosition += copied;
        return true;
    }

    private void Filled(int read)
    {
        ObjectDisposedException.ThrowIf(_stream.IsClosed, this);
        (_inPosition, _inLength) = (0, read);
        _sourceEnded = read == 0;
    }

    /// <summary>Runs the decoder once over the waiting input into the stream's own window; false at the clean end.</summary>
    private bool Decode()
    {
        var decoded = Decode(Marshal.UnsafeAddrOfPinnedArrayElement(_output, 0), OutputBytes);
        if (decoded < 0)
            return false;
        (_outPosition, _outLength) = (0, decoded);
        return true;
    }

    /// <summary>
    /// Runs the decoder once over the waiting input into <paramref name="count"/> bytes at the pinned
    /// <paramref name="destination"/>: the bytes decoded (0 when it only took input), or -1 at the clean end.
    /// </summary>
    private int Decode(IntPtr destination, int count)
    {
        ObjectDisposedException.ThrowIf(_stream.IsClosed, this);
        var drained = _inPosition == _inLength && _sourceEnded;
        if (drained && !_inFrame)
            return -1;

        var output = new NativeMethods.Buffer(destination, (nuint)count, 0);
        var input = new NativeMethods.Buffer(Marshal.UnsafeAddrOfPinnedArrayElement(_input, 0), (nuint)_inLength, (nuint)_inPosition);
        var result = NativeMethods.ZSTD_decompressStream(_stream, ref output, ref input);
        if (NativeMethods.ZSTD_isError(result) != 0)
        {
            var name = Marshal.PtrToStringAnsi(NativeMethods.ZSTD_getErrorName(result));
            throw new InvalidDataException($"zstd: {name}");
        }

        _inPosition = (int)input.Pos;
        // 0: a frame was completely decoded and flushed; otherwise more input (or output room) is expected.
        _inFrame = result != 0;
        if (drained && output.Pos == 0)
        {
            // No input left and nothing more comes out: a frame that never ends.
            if (_inFrame)
                throw new EndOfStreamException("zstd: the data ends inside a frame (truncated)");
            return -1;
        }

        return (int)output.Pos;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _stream.Dispose();
            if (!_leaveOpen)
                _source.Dispose();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        _stream.Dispose();
        if (!_leaveOpen)
            await _source.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>A <c>ZSTD_DStream*</c>, freed once.</summary>
    private sealed class DStream() : SafeHandle(IntPtr.Zero, ownsHandle: true)
    {
        public override bool IsInvalid => handle == IntPtr.Zero;

        protected override bool ReleaseHandle()
        {
            _ = NativeMethods.ZSTD_freeDStream(handle);
            return true;
        }
    }

    private static class NativeMethods
    {
        [StructLayout(LayoutKind.Sequential)]
        public struct Buffer(IntPtr pointer, nuint size, nuint pos)
        {
            public IntPtr Pointer = pointer;
            public nuint Size = size;
            public nuint Pos = pos;
        }

        [DllImport("libzstd", CallingConvention = CallingConvention.Cdecl)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
        public static extern uint ZSTD_versionNumber();

        [DllImport("libzstd", CallingConvention = CallingConvention.Cdecl)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
        public static extern DStream ZSTD_createDStream();

        [DllImport("libzstd", CallingConvention = CallingConvention.Cdecl)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
        public static extern nuint ZSTD_freeDStream(IntPtr stream);

        [DllImport("libzstd", CallingConvention = CallingConvention.Cdecl)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
        public static extern nuint ZSTD_decompressStream(DStream stream, ref Buffer output, ref Buffer input);

        [DllImport("libzstd", CallingConvention = CallingConvention.Cdecl)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
        public static extern uint ZSTD_isError(nuint code);

        [DllImport("libzstd", CallingConvention = CallingConvention.Cdecl)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
        public static extern IntPtr ZSTD_getErrorName(nuint code);
    }
}
