// The original module's README, "Joining a Stream (WebSocket)", verbatim (the test fills in its two placeholder ids).
// Client-side WebSocket connection
const socket = io('/livestream');

// Join a stream
socket.emit('joinStream', {
  streamId: 'stream-uuid',
  userId: 'user-uuid'
});

// Listen for events
socket.on('joinedStream', (data) => {
  console.log('Joined stream:', data.streamId);
  console.log('Current viewers:', data.viewerCount);
});

socket.on('newChatMessage', (message) => {
  console.log('New message:', message);
});

socket.on('viewerCountUpdate', (data) => {
  console.log('Viewer count updated:', data.viewerCount);
});
